"""SMS command parsing: forgiving case, whitespace, language and connector suffixes."""

from __future__ import annotations

import pytest

from core.chargers.service import code_key
from notifications.commands import parse


@pytest.mark.parametrize(
    ("body", "kind", "language", "code", "base", "connector"),
    [
        # A trailing number may be the connector; the charger lookup tries the whole code first.
        ("Lade start KLOKK-AC-01", "start", "nb", "KLOKK-AC-01", "KLOKK-AC", 1),
        ("  lade   START   klokk-ac-01  ", "start", "nb", "klokk-ac-01", "klokk-ac", 1),
        ("LADE STOPP TOFTE", "stop", "nb", "TOFTE", None, None),
        ("Lade stop klokk ac 01", "stop", "nb", "klokk ac 01", "klokk ac", 1),
        ("Lade start KLOKK-AC-01-2", "start", "nb", "KLOKK-AC-01-2", "KLOKK-AC-01", 2),
        ("Charge start SAETRE-DC-01 2", "start", "en", "SAETRE-DC-01 2", "SAETRE-DC-01", 2),
        ("Lade status", "status", "nb", None, None, None),
        # The same word in both languages: the reply follows the driver's profile.
        ("STATUS", "status", None, None, None, None),
        ("charge status", "status", "en", None, None, None),
        ("Hjelp", "help", "nb", None, None, None),
        ("help", "help", "en", None, None, None),
        # A stop command never opts out: with a charger, or with the LADE/CHARGE prefix.
        ("Lade stop", "stop", "nb", None, None, None),
        ("charge stop", "stop", "en", None, None, None),
        ("Stopp KLOKK-AC-01", "stop", "nb", "KLOKK-AC-01", "KLOKK-AC", 1),
        ("stop tofte", "stop", None, "tofte", None, None),
        ("Start tofte", "start", None, "tofte", None, None),
        # STOPP/STOP alone: opt out, or stop the session the sender is charging.
        ("STOPP", "stop_or_opt_out", "nb", None, None, None),
        ("stop", "stop_or_opt_out", None, None, None, None),
        ("Stop.", "stop_or_opt_out", None, None, None, None),
        # Unmistakable opt-outs.
        ("STOPP SMS", "opt_out", "nb", None, None, None),
        ("stop sms", "opt_out", None, None, None, None),
        ("Avmeld", "opt_out", "nb", None, None, None),
        ("meld av", "opt_out", "nb", None, None, None),
        ("UNSUBSCRIBE", "opt_out", "en", None, None, None),
        ("START", "opt_in", None, None, None, None),
        ("start sms", "opt_in", None, None, None, None),
        ("Meld på", "opt_in", "nb", None, None, None),
        ("Lade", "unknown", "nb", None, None, None),
        ("Lade start", "unknown", "nb", None, None, None),
        ("Hei, kan dere ringe meg?", "unknown", None, None, None, None),
        ("", "unknown", None, None, None, None),
    ],
)
def test_parse(body, kind, language, code, base, connector):
    command = parse(body)
    assert (command.kind, command.language, command.code) == (kind, language, code)
    assert (command.code_without_connector, command.connector) == (base, connector)


@pytest.mark.parametrize("typed", ["klokk-ac-01", "KLOKK AC 01", "KL0KK-AC-O1", "klokk_ac_01"])
def test_code_key_forgives_typos(typed):
    assert code_key(typed) == code_key("KLOKK-AC-01")
