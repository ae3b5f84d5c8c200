"""The deploy check that refuses the public development SECRET_KEY."""

from __future__ import annotations

import pytest

from chatapp.core.checks import DEV_KEY_ERROR, check_secret_key_not_dev


@pytest.mark.parametrize(
    ("debug", "production"), [(False, False), (False, True), (True, True)], ids=str
)
def test_the_development_key_is_an_error_with_debug_off_or_in_production(
    settings, debug, production
):
    # given
    settings.SECRET_KEY = settings.CHATAPP_DEV_SECRET_KEY
    settings.DEBUG = debug
    settings.CHATAPP_PRODUCTION = production
    # when
    errors = check_secret_key_not_dev()
    # then
    assert [(e.id, e.msg) for e in errors] == [("chatapp.E001", DEV_KEY_ERROR)]


def test_the_development_key_passes_while_debugging_in_development(settings):
    # given
    settings.SECRET_KEY = settings.CHATAPP_DEV_SECRET_KEY
    settings.DEBUG = True
    settings.CHATAPP_PRODUCTION = False
    # then
    assert check_secret_key_not_dev() == []


def test_another_key_passes(settings):
    # given
    settings.SECRET_KEY = "k" * 20 + "an-operator-made-this-one-" + "z" * 10
    settings.DEBUG = False
    settings.CHATAPP_PRODUCTION = True
    # then
    assert check_secret_key_not_dev() == []


def test_check_deploy_reports_it(settings, capsys):
    # given
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    settings.SECRET_KEY = settings.CHATAPP_DEV_SECRET_KEY
    settings.DEBUG = False
    # when
    with pytest.raises(SystemCheckError) as raised:
        call_command("check", "--deploy", "--tag", "security")
    # then
    assert f"chatapp.E001) {DEV_KEY_ERROR}" in str(raised.value)
