// (filled in by the engine core)
