//! Harness shared by the end-to-end tests: building images and booting them.
