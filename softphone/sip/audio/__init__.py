"""Audio devices: the PortAudio sound-card bridge and device discovery."""
