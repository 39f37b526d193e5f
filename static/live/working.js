// Forms marked data-working="text" say that they are working once sent (the server may take
// seconds: a preflight against Azure), and cannot be sent twice meanwhile.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!form.dataset || !form.dataset.working) return;
  const button = form.querySelector("button[type=submit], button:not([type])");
  if (button) {
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
  }
  let note = form.querySelector(".form-working");
  if (!note) {
    note = document.createElement("p");
    note.className = "form-working working-indicator shown";
    (button ? button.parentNode : form).appendChild(note);
  }
  note.textContent = form.dataset.working;
});
