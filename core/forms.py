from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password

from core.choices import PASSWORD_MAX_CHARS, Role

User = get_user_model()


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What the token is for, e.g. 'CI pipeline'.")


class UserCreateForm(forms.Form):
    username = forms.RegexField(regex=r"^[\w.@+-]+$", max_length=150)
    email = forms.EmailField(required=False)
    role = forms.ChoiceField(choices=Role.choices)
    password = forms.CharField(
        max_length=PASSWORD_MAX_CHARS,
        widget=forms.PasswordInput,
        required=False,
        help_text="Empty: the user can only use API tokens.",
    )

    def clean_username(self):
        username = self.cleaned_data["username"]
        if User.objects.filter(username__iexact=username).exists():
            raise forms.ValidationError("A user with this name already exists.")
        return username

    def clean_password(self):
        password = self.cleaned_data["password"]
        if password:
            validate_password(password)
        return password


class UserEditForm(forms.Form):
    email = forms.EmailField(required=False)
    role = forms.ChoiceField(choices=Role.choices)
    is_active = forms.BooleanField(required=False, label="Active")
    password = forms.CharField(
        max_length=PASSWORD_MAX_CHARS,
        widget=forms.PasswordInput,
        required=False,
        help_text="Empty: keep the current password.",
    )

    def clean_password(self):
        password = self.cleaned_data["password"]
        if password:
            validate_password(password)
        return password
