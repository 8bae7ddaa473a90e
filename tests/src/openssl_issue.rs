//! Certificates issued by openssl itself, as a component from elsewhere (a kubelet,
//! an external CA, a hand-made repair) would hold them: the one place the tests run
//! `openssl req` and `openssl x509 -req`. A [`Ca`] (files on disk, or a new
//! self-signed one) issues a [`Leaf`]: on a new ECDSA P-256 key, on an existing key,
//! or from an existing request.

use std::path::{Path, PathBuf};

use crate::{assert_ok, run};

/// A CA openssl signs with: its certificate and key files.
pub struct Ca {
    /// The CA certificate (PEM).
    pub cert: PathBuf,
    /// The CA key (PEM).
    pub key: PathBuf,
}

/// A certificate to issue. Its files are `work/NAME.{key,csr,ext,crt}` unless
/// told otherwise.
pub struct Leaf<'a> {
    /// Where the request, extension file, new key and certificate go.
    pub work: &'a Path,
    /// The base name of those files.
    pub name: &'a str,
    /// The subject (`/O=.../CN=...`); unused with [`csr`](Self::csr).
    pub subj: &'a str,
    /// The x509v3 extensions, as openssl's config lines.
    pub ext: &'a str,
    /// Days of validity.
    pub days: u32,
    /// An existing key to request with, instead of a new ECDSA P-256 key.
    pub key: Option<&'a Path>,
    /// An existing request to sign as it is (its extensions copied, `ext` added).
    pub csr: Option<&'a Path>,
    /// Where the certificate goes, instead of `work/NAME.crt`.
    pub out: Option<&'a Path>,
    /// A new RSA key of this many bits instead of ECDSA P-256 (`rsa:1024` for a weak one).
    pub rsa_bits: Option<u32>,
    /// The digest openssl signs the request and the certificate with (`sha1`,
    /// `md5`), instead of its default.
    pub digest: Option<&'a str>,
}

impl<'a> Leaf<'a> {
    /// A certificate for `subj` with the extensions `ext`, valid 365 days, on a
    /// new ECDSA P-256 key, its files under `work` named `name`.
    pub fn new(work: &'a Path, name: &'a str, subj: &'a str, ext: &'a str) -> Self {
        Leaf {
            work,
            name,
            subj,
            ext,
            days: 365,
            key: None,
            csr: None,
            out: None,
            rsa_bits: None,
            digest: None,
        }
    }

    fn file(&self, ext: &str) -> PathBuf {
        self.work.join(format!("{}.{ext}", self.name))
    }
}

/// An issued certificate.
pub struct Issued {
    /// The certificate file.
    pub cert: PathBuf,
    /// Its key file: the new or the given key; `None` when an existing request was signed.
    pub key: Option<PathBuf>,
}

impl Issued {
    /// This certificate as a CA that signs in turn (an intermediate), with its key.
    pub fn into_ca(self) -> Ca {
        Ca {
            cert: self.cert,
            key: self.key.expect("an intermediate issued on its own key"),
        }
    }
}

impl Ca {
    /// The CA `DIR/BASE.crt` and `DIR/BASE.key`.
    pub fn at(dir: &Path, base: &str) -> Ca {
        Ca {
            cert: dir.join(format!("{base}.crt")),
            key: dir.join(format!("{base}.key")),
        }
    }

    /// A new self-signed CA for `subj` on a new ECDSA P-256 key, valid `days`
    /// days (keyCertSign, cRLSign, digitalSignature), written to `DIR/BASE.crt`
    /// and `DIR/BASE.key`.
    pub fn self_signed(dir: &Path, base: &str, subj: &str, days: u32) -> Ca {
        let ca = Ca::at(dir, base);
        let days = days.to_string();
        let args = [
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &display(&ca.key),
            "-subj",
            subj,
            "-days",
            &days,
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
            "-out",
            &display(&ca.cert),
        ];
        assert_ok(&run("openssl", args), &format!("openssl req -x509 {subj}"));
        ca
    }

    /// Issues `leaf`: `openssl req` (unless it is an existing request), then
    /// `openssl x509 -req` signed by this CA (`-CAcreateserial`: the serial file
    /// lands beside the CA certificate).
    pub fn issue(&self, leaf: &Leaf<'_>) -> Issued {
        let ext_file = leaf.file("ext");
        std::fs::write(&ext_file, leaf.ext).unwrap();
        let (csr, key) = match leaf.csr {
            Some(csr) => (csr.to_path_buf(), None),
            None => {
                let (csr, key) = (leaf.file("csr"), leaf.file("key"));
                let key = leaf.key.map_or(key, Path::to_path_buf);
                let mut args = vec!["req", "-new", "-subj", leaf.subj];
                let (k, c) = (display(&key), display(&csr));
                let rsa = leaf.rsa_bits.map(|b| format!("rsa:{b}"));
                if leaf.key.is_some() {
                    args.extend(["-key", &k]);
                } else if let Some(rsa) = &rsa {
                    args.extend(["-newkey", rsa, "-nodes", "-keyout", &k]);
                } else {
                    args.extend(["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]);
                    args.extend(["-nodes", "-keyout", &k]);
                }
                args.extend(["-out", &c]);
                let req_digest = leaf.digest.map(|d| format!("-{d}"));
                args.extend(req_digest.as_deref());
                let what = format!("openssl req {}", leaf.name);
                assert_ok(&run("openssl", args), &what);
                (csr, Some(key))
            }
        };
        let cert = leaf.out.map_or_else(|| leaf.file("crt"), Path::to_path_buf);
        let days = leaf.days.to_string();
        let (csr_arg, ca_cert, ca_key) = (display(&csr), display(&self.cert), display(&self.key));
        let (ext_arg, out_arg) = (display(&ext_file), display(&cert));
        let mut args = vec![
            "x509",
            "-req",
            "-in",
            &csr_arg,
            "-CA",
            &ca_cert,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-days",
            &days,
        ];
        if leaf.csr.is_some() {
            args.extend(["-copy_extensions", "copy"]);
        }
        let digest = leaf.digest.map(|d| format!("-{d}"));
        args.extend(digest.as_deref());
        args.extend(["-extfile", &ext_arg, "-out", &out_arg]);
        let what = format!("openssl x509 -req {}", leaf.name);
        assert_ok(&run("openssl", args), &what);
        Issued { cert, key }
    }
}

/// An ECDSA P-256 key and a certificate for `subj` (`/O=.../CN=...`) with the
/// x509v3 extensions `ext` (openssl's config lines), valid 365 days, signed by
/// `pki_dir`'s `ca.crt`/`ca.key`; written as `work/NAME.crt` and `work/NAME.key`.
/// Returns (cert, key).
pub fn openssl_issue(
    work: &Path,
    name: &str,
    subj: &str,
    ext: &str,
    pki_dir: &Path,
) -> (PathBuf, PathBuf) {
    let issued = Ca::at(pki_dir, "ca").issue(&Leaf::new(work, name, subj, ext));
    (issued.cert, issued.key.unwrap())
}

fn display(p: &Path) -> String {
    p.display().to_string()
}
