"""A simplified muon system: stations, fields and iron, the muon's transport through them, hits,
and a track finder with hardware-like integer features (one module per step)."""
