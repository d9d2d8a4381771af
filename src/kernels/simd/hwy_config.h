// Included before any Highway header by every kernel translation unit, so all of them (and
// dispatch.cc, which lists the targets) agree on which targets are compiled.
#pragma once

// SSSE3 adds nothing over SSE4 for these kernels; dropping it saves a compile of every kernel.
// AVX3_DL is not compiled either: Highway 1.0.3 has no VNNI/BF16 ops, the kernels that need
// them are AVX-512 intrinsics in kernels/x86/.
#ifndef HWY_DISABLED_TARGETS
#define HWY_DISABLED_TARGETS (HWY_SSSE3)
#endif
