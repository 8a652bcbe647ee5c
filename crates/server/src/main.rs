//! `redoubt-server`: see the `redoubt_server` library for the map of the process.

use redoubt_engine::memory::CountingAlloc;

// jemalloc, as Redis uses, wrapped so `used_memory` and `maxmemory` see every byte.
#[global_allocator]
static ALLOC: CountingAlloc<tikv_jemallocator::Jemalloc> = CountingAlloc(tikv_jemallocator::Jemalloc);

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(redoubt_server::main_entry::run(argv));
}
