"""rosetta.data"""
