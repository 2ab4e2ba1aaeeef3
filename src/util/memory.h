#pragma once
// Memory advice for large buffers.
#include <cstddef>

namespace mnist {

// Asks the kernel to back the whole 2 MiB pages inside [p, p + bytes) with
// transparent huge pages, before they are first touched. Under a hypervisor
// each 4 KiB page fault is costly: MNIST's 47 MB of training pixels take
// about 11,500 of them, a quarter of a short run's start-up. Only advice:
// without huge pages (or on small buffers) nothing changes.
void advise_huge_pages(const void* p, size_t bytes);

}  // namespace mnist
