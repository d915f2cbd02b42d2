//! What a kernel module declares about itself in its `.modinfo` ELF section:
//! its name and the firmware files it may ask for (`MODULE_FIRMWARE`), read
//! from the module file's bytes, compressed (`.ko.xz`, `.ko.zst`) or not.

use std::io::{self, Read, Write};

use object::{Object, ObjectSection};

/// No module comes near this once decompressed (the largest Wi-Fi drivers
/// are a few MiB); the base is not trusted, so a decompression bomb stops
/// here instead of filling the memory.
pub const MAX_MODULE_SIZE: u64 = 256 << 20;

/// How a module file is stored, from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Xz,
    Zstd,
}

impl Compression {
    /// The compression of a module file named `name`, or `None` when the
    /// name is not a module's (`.ko`, `.ko.xz`, `.ko.zst`).
    pub fn of_module(name: &str) -> Option<Compression> {
        if name.ends_with(".ko") {
            Some(Compression::None)
        } else if name.ends_with(".ko.xz") {
            Some(Compression::Xz)
        } else if name.ends_with(".ko.zst") {
            Some(Compression::Zstd)
        } else {
            None
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ModInfoError {
    #[error("cannot decompress it (xz)")]
    Xz(#[source] lzma_rs::error::Error),
    #[error("cannot decompress it (zstd)")]
    Zstd(#[source] io::Error),
    #[error("larger than {MAX_MODULE_SIZE} bytes once decompressed")]
    TooLarge,
    #[error("not an ELF object")]
    Elf(#[source] object::Error),
}

/// A module's own declarations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModInfo {
    /// `name=`: the name the kernel loads it as (`/proc/modules`).
    pub name: Option<String>,
    /// Every `firmware=`, in the module's order.
    pub firmware: Vec<String>,
}

/// A `Vec` that refuses to grow past [`MAX_MODULE_SIZE`].
struct Capped(Vec<u8>);

impl Write for Capped {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.0.len() as u64 + buf.len() as u64 > MAX_MODULE_SIZE {
            return Err(io::Error::other("decompressed module too large"));
        }
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The module's ELF bytes.
pub fn decompress(bytes: Vec<u8>, c: Compression) -> Result<Vec<u8>, ModInfoError> {
    match c {
        Compression::None => Ok(bytes),
        Compression::Xz => {
            let mut out = Capped(Vec::new());
            match lzma_rs::xz_decompress(&mut bytes.as_slice(), &mut out) {
                Ok(()) => Ok(out.0),
                Err(lzma_rs::error::Error::IoError(e)) if e.kind() == io::ErrorKind::Other => {
                    Err(ModInfoError::TooLarge)
                }
                Err(e) => Err(ModInfoError::Xz(e)),
            }
        }
        Compression::Zstd => {
            let decoder =
                zstd::stream::read::Decoder::new(bytes.as_slice()).map_err(ModInfoError::Zstd)?;
            let mut out = Vec::new();
            decoder
                .take(MAX_MODULE_SIZE + 1)
                .read_to_end(&mut out)
                .map_err(ModInfoError::Zstd)?;
            if out.len() as u64 > MAX_MODULE_SIZE {
                return Err(ModInfoError::TooLarge);
            }
            Ok(out)
        }
    }
}

/// Reads `.modinfo` from a module's ELF bytes: NUL-separated `key=value`
/// strings. A module without the section declares nothing.
pub fn parse(elf: &[u8]) -> Result<ModInfo, ModInfoError> {
    let file = object::File::parse(elf).map_err(ModInfoError::Elf)?;
    let mut info = ModInfo::default();
    let Some(section) = file.section_by_name(".modinfo") else {
        return Ok(info);
    };
    let data = section.data().map_err(ModInfoError::Elf)?;
    for field in data.split(|b| *b == 0) {
        let field = String::from_utf8_lossy(field);
        if let Some(fw) = field.strip_prefix("firmware=") {
            if !fw.is_empty() && !info.firmware.iter().any(|f| f == fw) {
                info.firmware.push(fw.to_owned());
            }
        } else if let Some(name) = field.strip_prefix("name=") {
            info.name = Some(name.to_owned());
        }
    }
    Ok(info)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use object::write;
    use object::{Architecture, BinaryFormat, Endianness, SectionKind};

    /// A relocatable ELF object with `modinfo` as its `.modinfo` section,
    /// as the kernel's build writes a module.
    pub(crate) fn module_elf(modinfo: &[&str]) -> Vec<u8> {
        let mut obj =
            write::Object::new(BinaryFormat::Elf, Architecture::X86_64, Endianness::Little);
        let text = obj.add_section(Vec::new(), b".text".to_vec(), SectionKind::Text);
        obj.append_section_data(text, &[0xc3], 1);
        let mut data = Vec::new();
        for f in modinfo {
            data.extend_from_slice(f.as_bytes());
            data.push(0);
        }
        let mi = obj.add_section(
            Vec::new(),
            b".modinfo".to_vec(),
            SectionKind::ReadOnlyString,
        );
        obj.append_section_data(mi, &data, 1);
        obj.write().unwrap()
    }

    #[test]
    fn reads_name_and_firmware() {
        let elf = module_elf(&[
            "license=GPL",
            "firmware=iwlwifi-cc-a0-77.ucode",
            "firmware=iwlwifi-cc-a0-77.ucode",
            "firmware=iwlwifi-so-a0-gf-a0.pnvm",
            "name=iwlwifi",
            "vermagic=6.12.0 SMP mod_unload",
        ]);
        let info = parse(&elf).unwrap();
        assert_eq!(info.name.as_deref(), Some("iwlwifi"));
        assert_eq!(
            info.firmware,
            ["iwlwifi-cc-a0-77.ucode", "iwlwifi-so-a0-gf-a0.pnvm"]
        );
    }

    #[test]
    fn xz_and_zstd_modules_read_alike() {
        let elf = module_elf(&["firmware=rt2870.bin", "name=rt2800usb"]);
        let mut xz = Vec::new();
        lzma_rs::xz_compress(&mut elf.as_slice(), &mut xz).unwrap();
        let zst = zstd::encode_all(elf.as_slice(), 3).unwrap();
        for (bytes, c) in [
            (elf.clone(), Compression::None),
            (xz, Compression::Xz),
            (zst, Compression::Zstd),
        ] {
            let info = parse(&decompress(bytes, c).unwrap()).unwrap();
            assert_eq!(info.firmware, ["rt2870.bin"], "{c:?}");
        }
    }

    #[test]
    fn garbage_is_an_error_not_an_empty_module() {
        assert!(matches!(
            decompress(b"not xz".to_vec(), Compression::Xz),
            Err(ModInfoError::Xz(_))
        ));
        assert!(matches!(parse(b"not elf"), Err(ModInfoError::Elf(_))));
    }

    #[test]
    fn module_names() {
        assert_eq!(Compression::of_module("a.ko"), Some(Compression::None));
        assert_eq!(Compression::of_module("a.ko.xz"), Some(Compression::Xz));
        assert_eq!(Compression::of_module("a.ko.zst"), Some(Compression::Zstd));
        assert_eq!(Compression::of_module("a.ko.gz"), None);
        assert_eq!(Compression::of_module("Makefile"), None);
    }
}
