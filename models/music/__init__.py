"""Music and sound effects with MusicGen and AudioGen.

    generator.py   MusicGenerator, the model class app.py turns into MusicModel/AudiocraftMusicModel
    request.py     MusicRequest and MusicJob (the web side imports these)
    audio.py       long clips window by window, and encoding to WAV/MP3
    melody.py      melody uploads: sniffed, decoded, limited; their request field
    waveform.py    a picture of a clip so far (the preview between windows)
    engines/       the libraries that can run a music preset: transformers, audiocraft

Only generator.py and engines/ load models; the rest is safe for the web side.
"""
