//! Pre-flight checks and executable inspection.

use super::{invocation, Sandbox};
use sha2::{Digest, Sha512};
use std::os::unix::fs::PermissionsExt;
use trellis_ext_runner::{inspect_executable, RunError};

#[tokio::test]
async fn unusable_paths_are_refused_before_anything_runs() {
    let sandbox = Sandbox::new();
    let missing = sandbox.path().join("missing.sh");
    let not_executable = sandbox.path().join("plain.sh");
    std::fs::write(&not_executable, "#!/bin/bash\ntouch ran\n").unwrap();
    std::fs::set_permissions(&not_executable, std::fs::Permissions::from_mode(0o644)).unwrap();
    let directory = sandbox.path().join("dir");
    std::fs::create_dir(&directory).unwrap();

    for (path, reason) in [
        (&missing, "does not exist"),
        (&not_executable, "is not executable"),
        (&directory, "is not a regular file"),
    ] {
        let error = sandbox
            .runner
            .run(invocation(path, "start"))
            .await
            .unwrap_err();
        let RunError::NotExecutable {
            path: reported,
            reason: reported_reason,
        } = &error
        else {
            panic!("unexpected {error:?}")
        };
        assert_eq!(reported, path);
        assert_eq!(reported_reason, reason);
        assert_eq!(error.details(), format!("File is not executable: {reason}"));
        assert_eq!(
            error.to_string(),
            format!(
                "extension executable {} is not usable: {reason}",
                path.display()
            )
        );
    }
    assert!(!sandbox.path().join("ran").exists());
    assert!(
        sandbox.payload_files().is_empty(),
        "no payload written for an unusable executable"
    );
}

#[test]
fn inspection_reports_state_and_checksum() {
    let sandbox = Sandbox::new();
    let missing = inspect_executable(&sandbox.path().join("missing"));
    assert!(!missing.exists && !missing.is_file && !missing.executable && missing.sha512.is_none());
    assert_eq!(missing.problem.as_deref(), Some("does not exist"));

    let directory = inspect_executable(sandbox.path());
    assert!(directory.exists && !directory.is_file);
    assert_eq!(directory.problem.as_deref(), Some("is not a regular file"));

    let script = sandbox.script("ext.sh", "echo one");
    let first = inspect_executable(&script);
    assert!(
        first.exists
            && first.is_file
            && first.executable
            && first.problem.is_none()
            && first.is_ready()
    );
    let expected = format!("{:x}", Sha512::digest(std::fs::read(&script).unwrap()));
    assert_eq!(first.sha512.as_deref(), Some(expected.as_str()));
    assert_eq!(expected.len(), 128);

    std::fs::write(&script, "#!/bin/bash\necho two\n").unwrap();
    let second = inspect_executable(&script);
    assert_ne!(first.sha512, second.sha512);
    assert!(second.is_ready());

    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).unwrap();
    let plain = inspect_executable(&script);
    assert!(plain.exists && plain.is_file && !plain.executable && plain.sha512.is_none());
    assert_eq!(plain.problem.as_deref(), Some("is not executable"));
}
