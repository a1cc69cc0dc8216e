"""rosetta.recognition"""
