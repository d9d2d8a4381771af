// Intel AMX (Advanced Matrix Extensions) kernels of kernels/x86/amx.cc, as tests and benchmarks
// reach them: the kernel table installs them through fill_x86_amx (kernels/dispatch.h).
#pragma once

#include "kernels/dispatch.h"

namespace dsv3::kernels::detail {

// Whether the CPU reports AMX-TILE and AMX-INT8 (CPUID leaf 7). Says nothing of the OS.
bool cpu_has_amx_int8();

// Whether this process uses the AMX int8 kernels: the CPU has them, Linux granted the tile
// state (arch_prctl ARCH_REQ_XCOMP_PERM, asked once) and DSV3_AMX is not "0".
bool amx_int8_usable();

// The AMX int8 product of q8 (q8 = true) or q4 weights on any token count, as MatmulInt8Fn;
// null where amx_int8_usable() is false. The kernel table's entry hands few tokens (decode)
// to the VNNI kernel instead.
MatmulInt8Fn amx_matmul_int8(bool q8);

}  // namespace dsv3::kernels::detail
