"""The suite never fails a correct GRU: written from the equations, registered, built by a
toolchain or another framework, or using a library that touches the process harmlessly."""
