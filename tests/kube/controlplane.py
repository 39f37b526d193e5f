"""Start and stop a real Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager,
kube-scheduler) on 127.0.0.1, from the binaries `tests/kube/build.sh` caches.

Every start gets free ports, a fresh etcd data directory and fresh random tokens in a directory of
its own, so parallel test sessions on one machine never share state. Starting takes a few seconds.
"""

from __future__ import annotations

import ctypes
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.kube.kubeconfig import render_kubeconfig

VERSION = "1.20.2"
COMMANDS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
CONTROLLERS = (
    "serviceaccount-token", "serviceaccount", "namespace", "garbagecollector", "podgc",
    "job", "cronjob", "deployment", "replicaset", "statefulset", "daemonset",
    "persistentvolume-binder", "pvc-protection", "pv-protection",
    "endpoint", "endpointslice", "nodelifecycle", "root-ca-cert-publisher",
)  # fmt: skip
BUILD_SCRIPT = Path(__file__).with_name("build.sh")
PKI_SCRIPT = Path(__file__).with_name("gen-pki.sh")


class TestbedUnavailable(RuntimeError):
    """The control plane cannot run on this machine; the message says why (shown as skip reason)."""


def cache_dir() -> Path:
    """Same location as build.sh computes: outside the repository, keyed by version."""
    root = os.environ.get("CONTROLPANEL_KUBE_CACHE") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "controlpanel-kube"
    )
    return Path(root) / f"v{VERSION}"


# build.sh's BUILD_REV: binaries of an older build revision are rebuilt before use.
BUILD_REV = "2"


def _build_rev(bin_dir: Path) -> str:
    try:
        return (bin_dir / ".build-rev").read_text().strip()
    except OSError:
        return ""


def find_binaries() -> dict[str, str]:
    """Paths of the control-plane programs, or TestbedUnavailable naming what is missing."""
    bin_dir = cache_dir() / "bin"
    found = {name: str(bin_dir / name) for name in COMMANDS if (bin_dir / name).is_file()}
    missing = [name for name in COMMANDS if name not in found]
    if not missing and _build_rev(bin_dir) != BUILD_REV:
        missing = [f"a rebuild (build revision {BUILD_REV})"]
    if missing:
        last_error = cache_dir() / "last-build-error"
        why = (
            f"the build failed: {last_error.read_text().strip()}"
            if last_error.is_file()
            else f"{', '.join(missing)} missing in {bin_dir}"
        )
        raise TestbedUnavailable(
            f"Kubernetes test bed not built ({why}); "
            f"run {BUILD_SCRIPT.relative_to(BUILD_SCRIPT.parents[2])} (make kube-testbed)"
        )
    etcd = shutil.which("etcd")
    if not etcd:
        raise TestbedUnavailable("etcd not found on PATH (Debian package etcd-server)")
    found["etcd"] = etcd
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Tokens:
    """Static bearer tokens, random per start (the API server's --token-auth-file)."""

    admin: str = field(default_factory=lambda: secrets.token_hex(16))
    controller_manager: str = field(default_factory=lambda: secrets.token_hex(16))
    scheduler: str = field(default_factory=lambda: secrets.token_hex(16))
    kubelet: str = field(default_factory=lambda: secrets.token_hex(16))

    def csv(self) -> str:
        # token,user,uid,"groups"
        return "\n".join(
            [
                f'{self.admin},testbed-admin,admin-uid,"system:masters"',
                f"{self.controller_manager},system:kube-controller-manager,kcm-uid",
                f"{self.scheduler},system:kube-scheduler,scheduler-uid",
                # The stand-in kubelet serves several nodes, so it cannot use one node identity.
                f'{self.kubelet},standin-kubelet,kubelet-uid,"system:masters"',
            ]
        )


class ControlPlane:
    """One running control plane. Use start() / stop(), or as a context manager."""

    def __init__(self, work_dir: Path, with_controllers: bool = True) -> None:
        self.work_dir = Path(work_dir)
        self.with_controllers = with_controllers
        self.binaries = find_binaries()
        self.pki = cache_dir() / "pki"
        self.tokens = Tokens()
        self.port = 0
        self.processes: dict[str, subprocess.Popen] = {}
        self._argv: dict[str, list[str]] = {}
        self.started_in = 0.0
        self._etcd_tmp: str | None = None

    # -- public ---------------------------------------------------------------------------------

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca_pem(self) -> str:
        return (self.pki / "ca.crt").read_text()

    def kubeconfig(self, token: str, user: str) -> str:
        return render_kubeconfig(self.server, self.ca_pem, token, user)

    def admin_kubeconfig(self) -> str:
        return self.kubeconfig(self.tokens.admin, "testbed-admin")

    def log_path(self, name: str) -> Path:
        return self.work_dir / "logs" / f"{name}.log"

    def start(self) -> ControlPlane:
        began = time.monotonic()
        if not (self.pki / ".complete").exists():
            subprocess.run([str(PKI_SCRIPT), str(self.pki)], check=True)
        (self.work_dir / "logs").mkdir(parents=True, exist_ok=True)
        tokens_file = self.work_dir / "tokens.csv"
        tokens_file.write_text(self.tokens.csv() + "\n")
        tokens_file.chmod(0o600)
        try:
            etcd_url = self._start_etcd()
            self._start_apiserver(etcd_url, tokens_file)
            self._wait_for_apiserver()
            if self.with_controllers:
                # Only once it is ready: the controller manager gives up (exit 255) when the API
                # server's RBAC is not bootstrapped within its own 10 s, as on a loaded machine.
                self._start_controllers()
            self._restart_controllers_that_gave_up()
        except BaseException:
            self.stop()
            raise
        self.started_in = time.monotonic() - began
        return self

    def stop(self) -> None:
        """Stop in reverse start order: SIGTERM, then SIGKILL after a few seconds."""
        for name in reversed(list(self.processes)):
            proc = self.processes.pop(name)
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if self._etcd_tmp:
            shutil.rmtree(self._etcd_tmp, ignore_errors=True)
            self._etcd_tmp = None

    def check_alive(self, names: tuple[str, ...] | None = None) -> None:
        for name, proc in self.processes.items():
            if names is not None and name not in names:
                continue
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited ({proc.returncode}); see {self.log_path(name)}")

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- processes ------------------------------------------------------------------------------

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen:
        log = self.log_path(name).open("ab")
        # Own session: a Ctrl-C in the terminal reaches pytest, which then stops us in order.
        # If pytest itself is killed, the kernel sends SIGTERM (no orphaned API servers).
        proc = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, cwd=self.work_dir, preexec_fn=_die_with_parent,
        )  # fmt: skip
        log.close()
        self.processes[name] = proc
        self._argv[name] = argv
        return proc

    def _restart_controllers_that_gave_up(self) -> None:
        """The controller manager waits only 10 s for a healthy API server, then exits; on a
        busy machine the API server can take longer. Start again whatever gave up meanwhile,
        now that the API server answers."""
        for name in CONTROLLER_PROCESSES:
            proc = self.processes.get(name)
            if proc is not None and proc.poll() is not None:
                with self.log_path(name).open("ab") as log:
                    log.write(f"--- exited {proc.returncode} before the API server was ready; "
                              "started again ---\n".encode())  # fmt: skip
                self._spawn(name, self._argv[name])

    def _wait(
        self,
        name: str,
        ready: Callable[[], bool],
        timeout: float,
        watch: tuple[str, ...] | None = None,
    ) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive(watch)
            if ready():
                return
            time.sleep(0.2)
        tail = self.log_path(name).read_text(errors="replace")[-2000:]
        raise RuntimeError(f"{name} not ready after {timeout:.0f}s; log tail:\n{tail}")

    def _start_etcd(self) -> str:
        client, peer = free_port(), free_port()
        url = f"http://127.0.0.1:{client}"
        self._spawn("etcd", [
            self.binaries["etcd"], "--name", "testbed",
            "--data-dir", self._etcd_data_dir(),
            "--listen-client-urls", url, "--advertise-client-urls", url,
            "--listen-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-cluster", f"testbed=http://127.0.0.1:{peer}",
        ])  # fmt: skip
        self._wait("etcd", lambda: _http_ok(f"{url}/health"), timeout=30)
        return url

    def _etcd_data_dir(self) -> str:
        # Test data is thrown away: keep it in memory when possible, so etcd's fsyncs are cheap.
        shm = Path("/dev/shm")
        if shm.is_dir() and os.access(shm, os.W_OK):
            self._etcd_tmp = tempfile.mkdtemp(prefix="controlpanel-etcd-", dir=shm)
            return self._etcd_tmp
        return str(self.work_dir / "etcd")

    def _start_apiserver(self, etcd_url: str, tokens_file: Path) -> None:
        self.port = free_port()
        pki = self.pki
        self._spawn("kube-apiserver", [
            self.binaries["kube-apiserver"],
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
            f"--secure-port={self.port}", "--insecure-port=0",
            f"--etcd-servers={etcd_url}",
            f"--tls-cert-file={pki / 'apiserver.crt'}", f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            f"--token-auth-file={tokens_file}",
            "--authorization-mode=Node,RBAC",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            "--api-audiences=https://kubernetes.default.svc.cluster.local",
            "--service-cluster-ip-range=10.96.0.0/16",
            # The stand-in kubelet's serving certificate is signed by our CA: verify it like a
            # production API server would, instead of trusting any certificate.
            f"--kubelet-certificate-authority={pki / 'ca.crt'}",
            "--kubelet-preferred-address-types=InternalIP",
            "--endpoint-reconciler-type=none",
            "--allow-privileged=true",
            "--enable-admission-plugins=NodeRestriction",
            "--profiling=false",
        ])  # fmt: skip

    def _wait_for_apiserver(self) -> None:
        pki = self.pki
        context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        headers = {"Authorization": f"Bearer {self.tokens.admin}"}
        self._wait(
            "kube-apiserver",
            lambda: _http_ok(f"{self.server}/readyz", context, headers),
            timeout=90,
            watch=("etcd", "kube-apiserver"),  # the controllers may give up meanwhile: restarted
        )

    def _start_controllers(self) -> None:
        kcm_config = self.work_dir / "controller-manager.kubeconfig"
        kcm_config.write_text(self.kubeconfig(self.tokens.controller_manager, "kcm"))
        scheduler_config = self.work_dir / "scheduler.kubeconfig"
        scheduler_config.write_text(self.kubeconfig(self.tokens.scheduler, "scheduler"))
        pki = self.pki
        self._spawn("kube-controller-manager", [
            self.binaries["kube-controller-manager"],
            f"--kubeconfig={kcm_config}",
            "--use-service-account-credentials=true",
            f"--service-account-private-key-file={pki / 'sa.key'}",
            f"--root-ca-file={pki / 'ca.crt'}",
            f"--cluster-signing-cert-file={pki / 'ca.crt'}",
            f"--cluster-signing-key-file={pki / 'ca.key'}",
            "--leader-elect=false", "--port=0", "--secure-port=0",
            # Only the controllers the panel's objects need: the controller manager starts them
            # one by one about 250ms apart, so the full set would add seconds to every session.
            f"--controllers={','.join(CONTROLLERS)}",
            # Tests create and delete many namespaces: sync them faster than production defaults.
            "--concurrent-namespace-syncs=5",
            # Re-check unbound claims every second instead of 15s: pods wait for their PVC.
            "--pvclaimbinder-sync-period=1s",
        ])  # fmt: skip
        self._spawn("kube-scheduler", [
            self.binaries["kube-scheduler"],
            f"--kubeconfig={scheduler_config}",
            "--leader-elect=false", "--port=0", "--secure-port=0",
        ])  # fmt: skip


CONTROLLER_PROCESSES = ("kube-controller-manager", "kube-scheduler")


def _die_with_parent() -> None:
    PR_SET_PDEATHSIG = 1
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass  # not Linux/glibc: processes are still stopped normally at session end


def _http_ok(
    url: str, context: ssl.SSLContext | None = None, headers: dict[str, str] | None = None
) -> bool:
    try:
        request = urllib.request.Request(url, headers=headers or {})
        with urllib.request.urlopen(request, timeout=2, context=context) as reply:  # noqa: S310
            return reply.status == 200
    except OSError:
        return False
