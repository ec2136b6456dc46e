"""The one declared option parser: what a member types after a command, and the errors they see."""

from __future__ import annotations

import pytest

from commands.base import CommandError, UsageError
from commands.options import Flag, Number, Options, Words

STRICT = Options({"goal": Number(1, 100), "flag": Flag(), "deadline": Words()})
FREE = Options({"remind": Words(), "every": Words()}, free_text=True, split="|",
               split_missing="Put a `|` between the time and the text, like `{prefix}x tomorrow | y`.")


def test_options_parsing_and_errors():
    found = STRICT.parse("a --goal 5 --flag", "!")
    assert found.words == ("a",) and found.values == {"goal": 5, "flag": True}
    with pytest.raises(UsageError, match="whole number"):
        STRICT.parse("--goal x", "!")
    with pytest.raises(UsageError, match="Unknown option"):
        STRICT.parse("--nope", "!")


def test_values_inline_words_up_to_the_next_option_and_text_between_options():
    found = STRICT.parse("letter Sign --goal=7 the --deadline Dec 31 --FLAG", "!")
    assert found.values == {"goal": 7, "deadline": "Dec 31", "flag": True}
    assert found.words == ("letter", "Sign", "the") and found.text == "letter Sign the"
    assert STRICT.parse('x --deadline "Dec 31" --goal 5', "!")["deadline"] == "Dec 31"


@pytest.mark.parametrize(
    ("typed", "error", "message"),
    [
        ("--colour red", UsageError, "Unknown option `--colour`. Options here: `--goal`, `--flag`, `--deadline`."),
        ("--goal 5 --goal 6", UsageError, "`--goal` is given twice."),
        ("--goal", UsageError, "`--goal` needs a number, like `--goal 100`."),
        ("--goal --flag", UsageError, "`--goal` needs a number, like `--goal 100`."),
        ("--goal many", UsageError, "`--goal` takes a whole number, not `many`."),
        ("--goal 0", CommandError, "`--goal` must be a whole number above 0, not 0."),
        ("--goal 101", CommandError, "`--goal` can be at most 100."),
        ("--flag=yes", UsageError, "`--flag` takes no value."),
        ("--deadline --flag", UsageError, "`--deadline` needs a value."),
        ("--deadline 'Dec 31", UsageError, "A quote is not closed."),
    ],
)
def test_errors_a_member_sees(typed: str, error: type[Exception], message: str):
    with pytest.raises(error) as raised:
        STRICT.parse(typed, "!")
    assert str(raised.value).startswith(message)


def test_a_quoted_option_and_a_bare_dash_dash_are_words():
    found = STRICT.parse('"--goal" -- 5', "!")
    assert found.words == ("--goal", "--", "5") and found.values == {}


def test_free_text_keeps_what_was_typed_and_undeclared_words():
    found = FREE.parse('tomorrow 9am | Say  "hi" --loud --every 0 9 * * 1-5 --remind 1d, 1h', "?")
    assert found.head == "tomorrow 9am"
    assert found.text == 'Say  "hi" --loud'
    assert found.values == {"every": "0 9 * * 1-5", "remind": "1d, 1h"}
    assert FREE.parse("soon --remind 1h | text", "?").values == {}  # options only after the `|`


def test_a_missing_split_mark_names_the_configured_prefix():
    for typed in ("tomorrow 9am Call", " | Call"):
        with pytest.raises(UsageError, match=r"like `\?x tomorrow \| y`"):
            FREE.parse(typed, "?")


@pytest.mark.parametrize("typed, message", [
    ("--goal x", "`--goal` lleva un número entero, no `x`."),
    ("--goal 0", "`--goal` tiene que ser un número entero mayor que 0, no 0."),
    ("--goal", "`--goal` necesita un número, por ejemplo `--goal 100`."),
    ("--flag=1", "`--flag` no lleva valor."),
    ("--flag --flag", "`--flag` está dos veces."),
    ("--nope", "No conozco la opción `--nope`. Opciones de este comando: `--goal`, `--flag`, `--deadline`."),
    ("--deadline", "`--deadline` necesita un valor."),
    ('"open', "Falta cerrar unas comillas."),
])
def test_errors_in_the_readers_language(typed: str, message: str):
    from commands.common.i18n import translations

    with pytest.raises(CommandError) as raised:
        STRICT.parse(typed, "!", translations("es").gettext)
    assert str(raised.value).startswith(message)
