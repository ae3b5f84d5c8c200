"""Allowing and removing the sites that may embed the widget."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from chatapp.core.errors import Conflict, NotFound
from chatapp.widget.models import WidgetOrigin
from chatapp.widget.selectors import widget_origin_allowed, widget_origin_patterns
from chatapp.widget.services import (
    widget_origin_create,
    widget_origin_delete,
    widget_origin_ensure,
)

pytestmark = pytest.mark.django_db


def test_an_allowed_origin_is_stored_normalised_and_admits_its_pages():
    # when
    item = widget_origin_create("https://Shop.Example.com/", note=" main shop ")
    # then
    assert (item.origin, item.note) == ("https://shop.example.com", "main shop")
    assert widget_origin_patterns() == ["https://shop.example.com"]
    assert widget_origin_allowed("https://shop.example.com")
    assert not widget_origin_allowed("https://other.example.com")
    assert not widget_origin_allowed(None)


def test_the_same_origin_twice_is_a_conflict_and_stores_nothing_more():
    # given
    widget_origin_create("https://shop.example.com")
    # when
    with pytest.raises(Conflict) as caught:
        widget_origin_create("https://SHOP.example.com:443")
    # then
    assert caught.value.code == "duplicate"
    assert WidgetOrigin.objects.count() == 1


def test_a_bad_origin_is_refused_and_stores_nothing():
    with pytest.raises(ValidationError):
        widget_origin_create("https://shop.example.com/page")
    assert WidgetOrigin.objects.count() == 0


def test_ensure_allows_once():
    # when
    first = widget_origin_ensure("http://127.0.0.1:8001", note="demo")
    again = widget_origin_ensure("http://127.0.0.1:8001/")
    # then
    assert first.pk == again.pk
    assert WidgetOrigin.objects.count() == 1


def test_a_removed_origin_no_longer_admits_its_pages():
    # given
    item = widget_origin_create("https://shop.example.com")
    # when
    widget_origin_delete(item.pk)
    # then
    assert not widget_origin_allowed("https://shop.example.com")
    with pytest.raises(NotFound):
        widget_origin_delete(item.pk)
