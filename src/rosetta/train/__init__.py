"""rosetta.train"""
