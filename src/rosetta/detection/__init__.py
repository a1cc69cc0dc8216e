"""rosetta.detection"""
