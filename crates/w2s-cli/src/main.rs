//! The `w2s` binary: the program of [`w2s_cli::main`].

fn main() {
    // Die quietly when stdout is a closed pipe (`w2s report | head`), as command-line tools do.
    // SAFETY: restoring the default disposition of a signal at startup, before any thread.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // Not a failure where the allocator is not glibc's: the default settings then stay.
    let _ = w2s::device::keep_freed_host_memory();
    let exe = std::env::current_exe().unwrap_or_else(|_| "w2s".into());
    std::process::exit(w2s_cli::main(std::env::args_os(), exe));
}
