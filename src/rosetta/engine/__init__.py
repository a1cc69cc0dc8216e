"""rosetta.engine"""
