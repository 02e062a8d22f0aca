"""The muon pT assignment: a lookup table (the baseline) and a quantized net."""
