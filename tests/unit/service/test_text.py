from __future__ import annotations

from zhongtai.service import text


def test_traditional_becomes_simplified() -> None:
    # given a question typed in traditional characters
    question = "我想退貨，發票怎麼開"
    # when it is normalised
    result = text.normalise(question)
    # then it reads as simplified Chinese
    assert "退货" in result
    assert "发票怎么开" in result


def test_full_width_latin_and_digits_become_half_width_lower_case() -> None:
    # given full-width Latin letters, digits, an ideographic space and repeated spaces
    question = "ＩＰｈｏｎｅ１５　多少钱   ？"
    # when it is normalised
    result = text.normalise(question)
    # then they are ASCII, lower-case, with single spaces
    assert result == "iphone15 多少钱 ?"


def test_words_are_jieba_tokens_of_the_normalised_text() -> None:
    # given a traditional-character question
    # when it is tokenised
    tokens = text.words("我要退貨 ")
    # then the words are simplified and no whitespace token remains
    assert "退货" in tokens
    assert all(t.strip() for t in tokens)


def test_char_ngrams_cover_one_to_three_characters() -> None:
    # given a three-character question with a space
    # when its character n-grams are taken
    grams = text.char_ngrams("退 货吗")
    # then every 1-, 2- and 3-gram of the text without the space is there
    assert grams == ["退", "货", "吗", "退货", "货吗", "退货吗"]
