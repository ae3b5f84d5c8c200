"""The dashboard form that allows one more origin."""

from __future__ import annotations

from django import forms

from chatapp.widget.models import ORIGIN_MAX_CHARS


class WidgetOriginForm(forms.Form):
    origin = forms.CharField(
        max_length=ORIGIN_MAX_CHARS,
        help_text="Scheme and host of the site, e.g. https://shop.example.com or https://*.example.com.",
    )
    note = forms.CharField(
        max_length=200, required=False, help_text="Optional: which site this is."
    )
