"""rosetta.quant"""
