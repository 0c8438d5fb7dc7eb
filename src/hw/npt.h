// Nested page tables: the entry format, the walker, the TLB and the table editor
// (hw/npt/*.h). Include the narrower header when only one part is needed.
#pragma once

#include "hw/npt/editor.h"
#include "hw/npt/format.h"
#include "hw/npt/tlb.h"
#include "hw/npt/walker.h"
