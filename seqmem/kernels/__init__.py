"""The models' numerical kernels, apart from the models: causal and FFT convolutions, the selective scan and
the LRU's recurrence with their backwards by hand, and the C they run where a compiler is found (`native`)."""
