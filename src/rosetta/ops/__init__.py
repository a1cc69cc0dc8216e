"""rosetta.ops"""
