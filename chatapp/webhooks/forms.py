"""The dashboard's form for a new webhook endpoint (the service validates the rest)."""

from __future__ import annotations

from django import forms

from chatapp.webhooks.events import EVENT_NAMES
from chatapp.webhooks.models import URL_MAX_CHARS


class EndpointForm(forms.Form):
    url = forms.CharField(label="Receiver URL", max_length=URL_MAX_CHARS)
    secret = forms.CharField(
        label="Secret", max_length=200, widget=forms.PasswordInput(render_value=False)
    )
    events = forms.MultipleChoiceField(
        choices=[(e, e) for e in EVENT_NAMES], widget=forms.CheckboxSelectMultiple
    )
    description = forms.CharField(max_length=200, required=False)
