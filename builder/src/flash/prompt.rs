//! Shows what is about to be overwritten and asks for a typed "yes".

use std::io::{self, BufRead, IsTerminal, Write};
use std::path::Path;

use super::device::DeviceInfo;
use super::error::{io_err, FlashError};
use crate::progress::human;

/// Describes the device and the image; unless `yes`, asks on the terminal.
pub(super) fn confirm(
    yes: bool,
    image: &Path,
    image_size: u64,
    device: &Path,
    info: &DeviceInfo,
) -> Result<(), FlashError> {
    eprintln!(
        "{}: {} ({}, {} bytes), removable\nimage {}: {} bytes",
        device.display(),
        info.model,
        human(info.size),
        info.size,
        image.display(),
        image_size
    );
    if yes {
        return Ok(());
    }
    if !io::stdin().is_terminal() {
        return Err(FlashError::NotConfirmed {
            device: device.to_owned(),
            hint: " (no terminal to ask on: pass --yes)",
        });
    }
    eprint!(
        "Everything on {} will be lost. Type \"yes\" to write: ",
        device.display()
    );
    let _ = io::stderr().flush();
    let mut answer = String::new();
    io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(io_err(Path::new("stdin")))?;
    if answer.trim() == "yes" {
        Ok(())
    } else {
        Err(FlashError::NotConfirmed {
            device: device.to_owned(),
            hint: "",
        })
    }
}
