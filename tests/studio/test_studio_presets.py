"""The music tab's model picker: sound-effects presets are reachable and labelled as such."""

from models.presets import MUSIC_PRESETS
from ui.studio.music_tab import preset_choices


def test_every_music_preset_is_offered_and_audiogen_ones_say_sound_effects():
    choices = dict((value, label) for label, value in preset_choices())
    assert set(choices) == set(MUSIC_PRESETS)
    for name, preset in MUSIC_PRESETS.items():
        assert choices[name].endswith("· sound effects") == (preset.model == "audiogen"), name
    assert choices["audiogen-medium"] == "audiogen-medium · sound effects"
