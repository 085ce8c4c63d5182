# Per-object flags (see Makefile). The MLP's loops are reductions and axpys:
# -O3 vectorises the axpys, and reassociation (not the rest of fast-math:
# NaN/Inf still propagate and stay detectable) lets the dot products vectorise.
KP_VEC_FLAGS := -O3 -fno-math-errno -fno-trapping-math -fassociative-math -fno-signed-zeros
CFLAGS_mlp.o := $(KP_VEC_FLAGS)
CFLAGS_mlp_simd.o := $(KP_VEC_FLAGS)
# Adam: without errno, sqrtf is one instruction and the update loop
# vectorises; sqrt and division stay exactly rounded, so the same bits.
CFLAGS_adam.o := -O3 -fno-math-errno -fno-trapping-math
