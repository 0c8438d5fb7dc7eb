// Nested page tables: the entry format, the walker, the table editor and the range walks
// of table auditors (hw/npt/*.h).
// Include the narrower header when only one part is needed. The TLB that caches walks is
// the guest CPU's (hw/cpu/window_tlb.h): translations stay stale until a flush there.
#pragma once

#include "hw/npt/editor.h"
#include "hw/npt/format.h"
#include "hw/npt/range_walk.h"
#include "hw/npt/walker.h"
