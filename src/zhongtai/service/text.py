"""Chinese text normalisation and tokens for the customer-service bot.

Everything that compares or classifies user text goes through :func:`normalise` first, so that
繁體 and 简体, full-width and half-width, ``iPhone`` and ``IPHONE`` all look the same downstream.
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
import warnings
from functools import lru_cache
from typing import Any

_SPACES = re.compile(r"\s+")
_lock = threading.Lock()
_jieba: Any = None
_tagger: Any = None


@lru_cache(maxsize=1)
def _converter() -> Any:
    import opencc  # type: ignore[import-untyped]

    return opencc.OpenCC("t2s")


def _tokenizer() -> Any:
    """jieba, imported and its dictionary loaded once; it logs to stderr at import and load, which
    would pollute CLI output, so its logger is turned down first."""
    global _jieba
    if _jieba is None:
        with _lock:
            if _jieba is None:
                with warnings.catch_warnings():
                    # jieba 0.42 compiles regexes with invalid escapes: DeprecationWarnings at import.
                    warnings.simplefilter("ignore", DeprecationWarning)
                    import jieba  # type: ignore[import-untyped]

                jieba.setLogLevel(logging.WARNING)
                logging.getLogger("jieba").setLevel(logging.WARNING)
                tokenizer = jieba.Tokenizer()
                tokenizer.initialize()
                _jieba = tokenizer
    return _jieba


def _pos_tagger() -> Any:
    global _tagger
    tokenizer = _tokenizer()
    if _tagger is None:
        with _lock:
            if _tagger is None:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DeprecationWarning)  # same invalid escapes as jieba
                    import jieba.posseg  # type: ignore[import-untyped]

                _tagger = jieba.posseg.POSTokenizer(tokenizer)
    return _tagger


def to_half_width(text: str) -> str:
    """Full-width ASCII forms (ＡＢＣ１２３！) and the ideographic space become their ASCII twins;
    Chinese punctuation without an ASCII twin (，。) is left alone."""
    out = []
    for ch in text:
        code = ord(ch)
        if code == 0x3000:
            out.append(" ")
        elif 0xFF01 <= code <= 0xFF5E:
            out.append(chr(code - 0xFEE0))
        else:
            out.append(ch)
    return "".join(out)


def normalise(text: str) -> str:
    """Simplified Chinese, half-width, lower-case Latin, single spaces, trimmed."""
    text = unicodedata.normalize("NFC", to_half_width(text))
    text = _converter().convert(text)
    return _SPACES.sub(" ", text.lower()).strip()


def words(text: str) -> list[str]:
    """jieba words of the normalised text, without whitespace tokens."""
    return [w for w in _tokenizer().lcut(normalise(text)) if w.strip()]


def char_ngrams(text: str, n_min: int = 1, n_max: int = 3) -> list[str]:
    """Character n-grams (n_min..n_max) of the normalised text with spaces removed; robust where
    jieba splits a product or slang word differently in two questions."""
    chars = normalise(text).replace(" ", "")
    grams: list[str] = []
    for n in range(n_min, n_max + 1):
        grams.extend(chars[i : i + n] for i in range(len(chars) - n + 1))
    return grams


def tagged_words(text: str) -> list[tuple[str, str]]:
    """(word, part-of-speech) pairs from jieba's tagger (ns place, nr person, v verb, ...): the
    kind of word tells an intent even when the word itself was never seen in training."""
    return [(pair.word, pair.flag) for pair in _pos_tagger().lcut(normalise(text)) if pair.word.strip()]


def bounded_char_ngrams(text: str, n_max: int = 3) -> list[str]:
    """Character 1..n_max grams with ``^`` and ``$`` marking the start and end, so "打开..." at the
    start of a question counts apart from "打开" in its middle."""
    chars = "^" + normalise(text).replace(" ", "") + "$"
    grams: list[str] = []
    for n in range(1, n_max + 1):
        grams.extend(chars[i : i + n] for i in range(len(chars) - n + 1))
    return [g for g in grams if g not in ("^", "$")]
