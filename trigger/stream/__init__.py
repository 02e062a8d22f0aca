"""The 40 MHz stream: filling scheme, crossing pool, pipeline timing, L1A distribution, the run and its report."""
