"""rosetta.synth"""
