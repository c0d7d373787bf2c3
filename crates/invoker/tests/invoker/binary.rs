use std::process::Command;

use serde_json::Value;

#[test]
fn bad_configuration_fails_init_with_one_clear_line() {
    let cases = [
        (
            vec![],
            "INVOKER_ENDPOINTS: required: a comma list of endpoint names, each optionally name:RoleA|RoleB",
        ),
        (
            vec![("INVOKER_ENDPOINTS", "my_model")],
            "INVOKER_ENDPOINTS: \"my_model\" is not a SageMaker endpoint name (1-63 letters, digits and hyphens, not starting or ending with a hyphen)",
        ),
        (
            vec![("INVOKER_ENDPOINTS", "m"), ("INVOKER_TIMEOUT_MS", "lots")],
            "INVOKER_TIMEOUT_MS: \"lots\" is not a whole number",
        ),
    ];
    for (env, message) in cases {
        let output = Command::new(env!("CARGO_BIN_EXE_invoker"))
            .env_clear()
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .envs(env)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{message}");
        let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1, "{lines:?}");
        let line: Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(line["level"], "ERROR");
        assert_eq!(line["fields"]["error"], message);
    }
}
