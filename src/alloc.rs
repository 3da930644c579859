//! The binary's allocator: mimalloc, asked for alignment only when a layout needs it.

/// Every request allocates a little (URL, headers, record); glibc's malloc serialises the worker
/// threads on its arena locks at tens of thousands of requests per second, mimalloc does not.
#[global_allocator]
static ALLOCATOR: MiMalloc = MiMalloc;

/// mimalloc, asked for alignment only when a layout needs more than every block has. The
/// `mimalloc` crate's allocator passes every layout's alignment to `mi_malloc_aligned`, whose
/// checks cost more than the allocation itself on the request path (about 14 allocations a
/// request; docs/performance.md).
struct MiMalloc;

/// Whether `mi_malloc` alone gives `size` bytes the alignment `align`: an alignment of up to 16
/// bytes that is no more than the size, mimalloc's own rule (`mi_malloc_is_naturally_aligned`
/// in its `alloc-aligned.c`, which `mi_malloc_aligned` checks first: its size classes keep it).
fn natural(size: usize, align: usize) -> bool {
    align <= 16 && align <= size
}

// SAFETY: each method hands mimalloc's own functions the layout's size, and its alignment unless
// mimalloc gives that alignment to any block of that size (see `natural`), so every pointer
// returned is aligned as the layout asks; only pointers mimalloc returned are freed or
// reallocated, by mimalloc.
unsafe impl std::alloc::GlobalAlloc for MiMalloc {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        use libmimalloc_sys::{mi_malloc, mi_malloc_aligned};
        if natural(layout.size(), layout.align()) {
            mi_malloc(layout.size()).cast()
        } else {
            mi_malloc_aligned(layout.size(), layout.align()).cast()
        }
    }

    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        use libmimalloc_sys::{mi_zalloc, mi_zalloc_aligned};
        if natural(layout.size(), layout.align()) {
            mi_zalloc(layout.size()).cast()
        } else {
            mi_zalloc_aligned(layout.size(), layout.align()).cast()
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: std::alloc::Layout) {
        libmimalloc_sys::mi_free(ptr.cast());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, size: usize) -> *mut u8 {
        use libmimalloc_sys::{mi_realloc, mi_realloc_aligned};
        if natural(size, layout.align()) {
            mi_realloc(ptr.cast(), size).cast()
        } else {
            mi_realloc_aligned(ptr.cast(), size, layout.align()).cast()
        }
    }
}
