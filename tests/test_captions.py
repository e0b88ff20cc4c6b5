"""Captions of avatar tokens: colour names, patterns, garment styles and shape words from what the
tokens saw, and their colour-word accuracy against a synthetic subject."""

from __future__ import annotations

import pytest
import torch

from genlca.avatar import CHANNELS
from genlca.data.synth.clothing import ClothingSpec, Garment
from genlca.data.synth.subject import Subject, caption
from genlca.data.synth.vocab import COLORS, HAIR_COLORS, SKIN_TONES
from genlca.tokenizer.captions import (
    ALBEDO,
    DELIT,
    caption_accuracy,
    caption_scores,
    caption_text,
    caption_tokens,
    lighting_for,
    name_colors,
    nearest_color,
    sure_regions,
)
from genlca.tokenizer.tokens import AvatarTokens

SPEC = ClothingSpec(skin=Garment("brown"), hair=Garment("black", style="short"),
                    top=Garment("red", "stripes", "white", "short", 0.06),
                    bottom=Garment("dark blue", "checks", "white", "trousers", 0.08), shoes=Garment("white"))
LABELS = {"gender": 0.1, "age": 0.7, "muscle": 0.5, "weight": 0.5, "height": 0.8, "proportions": 0.5}


@pytest.fixture(scope="module")
def painted(anny, layout128) -> tuple[torch.Tensor, Subject]:
    """SPEC painted on a tall man: the ground-truth maps of the synthetic generator."""
    from genlca.data.synth.generator import subject_avatar

    shape = torch.tensor([LABELS[k] for k in anny.shape_labels])
    subject = Subject(shape, LABELS, SPEC, caption(SPEC, LABELS))
    return subject_avatar(anny, layout128, subject)[0].maps, subject


def _tokens(painted, layout, rgb_of=lambda albedo: albedo, seen=None, tokenizer="refiner") -> AvatarTokens:
    """Tokens whose colours are the painted albedo (through `rgb_of`), seen by 5 frames head-on
    where `seen` (R, R) (everywhere by default), made by `tokenizer` (tokens.meta)."""
    maps, subject = painted
    maps = maps.clone()
    maps[CHANNELS["rgb"]] = rgb_of(maps[CHANNELS["rgb"]])
    seen = layout.mask if seen is None else seen & layout.mask
    return AvatarTokens(maps=maps, visibility=0.95 * seen.float(), count=5 * seen.int(), shape=subject.shape,
                        body_model="anny", meta={"tokenizer": tokenizer})


def _subject_json(subject: Subject) -> dict:
    return {"clothing": subject.clothing.to_dict(), "caption": subject.caption}


@pytest.mark.parametrize("vocab", [COLORS, SKIN_TONES, HAIR_COLORS])
def test_vocabulary_colours_name_themselves(vocab):
    for name, rgb in vocab.items():
        assert nearest_color(rgb, vocab) == name
        assert nearest_color([0.97 * c + 0.01 for c in rgb], vocab) == name


def test_delit_colours_are_named_with_one_gain_for_the_video():
    """De-lit unprojected colours are the albedo times a gain that varies from video to video
    (about 0.9), plus a little grey: DELIT names them over the whole range, where the
    nearest colour alone, or the albedo profile of a dark video, names them darker."""
    truth = {"skin": ["brown"], "hair": ["blonde"], "top": ["red", "white"], "bottom": ["dark blue"],
             "shoes": ["white"]}
    vocab = {"skin": SKIN_TONES, "hair": HAIR_COLORS}
    for gain in (0.4, 0.66, 0.95):
        delit = {r: [[gain * c + 0.06 for c in vocab.get(r, COLORS)[n]] for n in names] for r, names in truth.items()}
        assert name_colors(delit, DELIT) == truth, gain
        if gain == 0.4:
            assert nearest_color(delit["shoes"][0], COLORS) == "grey"
            assert name_colors(delit, ALBEDO)["shoes"] == ["grey"]
    albedo = {r: [vocab.get(r, COLORS)[n] for n in names] for r, names in truth.items()}
    assert name_colors(albedo, ALBEDO) == truth


def test_skin_tones_of_a_dark_video():
    """Skin tones differ mostly in lightness: in a dark video (de-lit colours at 0.55 of the albedo where
    DELIT expects 0.9) each is named right only with DELIT's spread of gains."""
    def dark(tone: str) -> dict:
        shade = lambda rgb, gain=0.55: [[gain * c + 0.06 for c in rgb]]  # noqa: E731
        return {"skin": shade(SKIN_TONES[tone]), "top": shade(COLORS["white"]), "bottom": shade(COLORS["blue"])}

    for tone in SKIN_TONES:
        assert name_colors(dark(tone), DELIT)["skin"] == [tone]
    assert name_colors(dark("medium"), ALBEDO)["skin"] != ["medium"]


def test_the_profile_follows_how_the_tokens_were_made():
    assert lighting_for("unprojection") is DELIT and lighting_for("") is DELIT and lighting_for(None) is DELIT
    assert lighting_for("refiner") is ALBEDO and lighting_for("/models/tokenizer") is ALBEDO
    assert (DELIT.name, ALBEDO.name) == ("delit", "albedo")


@pytest.mark.parametrize("tokenizer", ["refiner", "unprojection"])
def test_painted_tokens_get_the_subjects_caption(anny, layout128, painted, tokenizer):
    """Tokens painted with a known outfit (stripes, checks, short sleeves, trousers, short hair)
    get every colour, pattern and style right, as refined (albedo) or de-lit unprojected tokens
    (darker), named under the profile of how they were made: the caption is the generator's own."""
    rgb_of = (lambda a: a) if tokenizer == "refiner" else (lambda a: 0.66 * a + 0.06)
    tokens, subject = _tokens(painted, layout128, rgb_of, tokenizer=tokenizer), painted[1]
    cap = caption_tokens(tokens, anny, layout128)
    assert cap["light"] == ("albedo" if tokenizer == "refiner" else "delit")
    reg = cap["regions"]
    assert {r: reg[r]["color"] for r in ("skin", "hair", "shoes")} == {"skin": "brown", "hair": "black",
                                                                       "shoes": "white"}
    assert {reg["top"]["color"], reg["top"]["color2"]} == {"red", "white"} and reg["top"]["pattern"] == "stripes"
    assert {reg["bottom"]["color"], reg["bottom"]["color2"]} == {"dark blue", "white"}
    assert reg["bottom"]["pattern"] == "checks" and reg["shoes"]["pattern"] == "solid"
    assert cap["styles"] == {"sleeves": "short", "legwear": "trousers", "hair": "short"}
    assert cap["words"] == {"height": "tall", "who": "man"} and 1.6 < cap["height_m"] < 2.3
    swapped = {r: dict(v, color=v["color2"], color2=v["color"]) if v["color2"] else v for r, v in reg.items()}
    assert subject.caption in (cap["caption"], caption_text(swapped, cap["styles"], cap["words"]))
    assert caption_accuracy(reg, _subject_json(subject)) == (7, 7)


def test_regions_not_seen_give_no_words(anny, layout128, painted):
    """Only the upper body seen: no legwear, no shoes in the caption, and they are not scored."""
    zones = sure_regions(anny, layout128, painted[1].shape)
    upper = torch.zeros_like(layout128.mask)
    upper.view(-1)[layout128.texels] = zones["top"] | zones["skin"]
    tokens, subject = _tokens(painted, layout128, seen=upper), painted[1]
    cap = caption_tokens(tokens, anny, layout128, ALBEDO)
    assert cap["regions"]["bottom"]["color"] is None and cap["regions"]["shoes"]["color"] is None
    assert cap["regions"]["shoes"]["seen_texels"] == 0
    assert "shoes" not in cap["caption"] and "trousers" not in cap["caption"] and "red" in cap["caption"]
    assert set(caption_scores(cap["regions"], _subject_json(subject))) == {"skin", "top"}
    nothing = _tokens(painted, layout128, seen=torch.zeros_like(layout128.mask))
    cap = caption_tokens(nothing, anny, layout128, ALBEDO)
    assert cap["caption"] == "a tall man" and caption_accuracy(cap["regions"], _subject_json(subject)) == (0, 0)


def test_caption_accuracy_counts_colour_words():
    subject = {"clothing": {"skin": {"color": "fair"}, "hair": {"color": "black", "style": "short"},
                            "top": {"color": "red", "pattern": "stripes", "color2": "white"},
                            "bottom": {"color": "blue", "pattern": "solid"}, "shoes": {"color": "white"}}}
    m = lambda c, c2=None: {"color": c, "color2": c2}  # noqa: E731
    assert caption_accuracy({"skin": m("fair"), "top": m("white", "red")}, subject) == (3, 3)  # either order
    assert caption_accuracy({"top": m("red")}, subject) == (1, 2)  # a pattern colour missed
    assert caption_accuracy({"bottom": m("blue", "grey")}, subject) == (1, 2)  # a colour too many
    assert caption_accuracy({"hair": m("dark brown"), "shoes": m(None)}, subject) == (0, 1)  # unseen: not scored
    assert caption_scores({"skin": m("pale"), "top": m("red", "white")}, subject) == {"skin": (0, 1), "top": (2, 2)}
