//! Payload contracts: the JSON Schemas in `assets/contracts/` (compiled in), and checking a
//! replayed payload against its connector's contract before it reaches the destination.

use serde_json::Value;

/// Every contract the demo ships, by file name.
pub const BUILTIN_CONTRACTS: &[(&str, &str)] = &[
    (
        "hubspot-form-lead.json",
        include_str!("../../assets/contracts/hubspot-form-lead.json"),
    ),
    (
        "ad-conversion.json",
        include_str!("../../assets/contracts/ad-conversion.json"),
    ),
    (
        "crm-sync-record.json",
        include_str!("../../assets/contracts/crm-sync-record.json"),
    ),
    (
        "enrichment-request.json",
        include_str!("../../assets/contracts/enrichment-request.json"),
    ),
    (
        "segment-track-event.json",
        include_str!("../../assets/contracts/segment-track-event.json"),
    ),
];

/// A compiled contract.
pub struct Contract {
    pub file: String,
    validator: jsonschema::Validator,
}

impl std::fmt::Debug for Contract {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Contract")
            .field("file", &self.file)
            .finish()
    }
}

impl Contract {
    /// Compiles the built-in contract `file`; the error names the file and the cause.
    pub fn builtin(file: &str) -> Result<Contract, String> {
        let text = BUILTIN_CONTRACTS
            .iter()
            .find(|(name, _)| *name == file)
            .map(|(_, text)| *text)
            .ok_or_else(|| {
                format!("contract {file:?} is not one of the demo contracts in assets/contracts/")
            })?;
        Contract::from_text(file, text)
    }

    /// Compiles the contract in `path` (a connector's `contract` file).
    pub fn from_file(path: &std::path::Path) -> Result<Contract, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("contract {}: {e}", path.display()))?;
        Contract::from_text(&path.display().to_string(), &text)
    }

    fn from_text(file: &str, text: &str) -> Result<Contract, String> {
        let schema: Value = serde_json::from_str(text)
            .map_err(|e| format!("contract {file}: not valid JSON: {e}"))?;
        let validator = jsonschema::validator_for(&schema)
            .map_err(|e| format!("contract {file}: not a valid JSON Schema: {e}"))?;
        Ok(Contract {
            file: file.to_string(),
            validator,
        })
    }

    /// The first violation of `payload`, if any: a conforming payload (the usual case, checked
    /// for thousands of letters by a run's plan) is told by the validator's own yes/no, which
    /// collects no errors.
    pub fn first_violation(&self, payload: &Value) -> Option<String> {
        if self.validator.is_valid(payload) {
            return None;
        }
        self.violations(payload).into_iter().next()
    }

    /// The violations of `payload` (at most five, `path: message`), empty when it conforms.
    pub fn violations(&self, payload: &Value) -> Vec<String> {
        self.validator
            .iter_errors(payload)
            .take(5)
            .map(|e| {
                let path = e.instance_path().to_string();
                let path = if path.is_empty() {
                    "/".to_string()
                } else {
                    path
                };
                format!("{path}: {e}")
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_contract_compiles() {
        for (file, _) in BUILTIN_CONTRACTS {
            Contract::builtin(file).unwrap();
        }
    }

    #[test]
    fn missing_email_violates_the_lead_contract() {
        let contract = Contract::builtin("hubspot-form-lead.json").unwrap();
        let lead = serde_json::json!({"form_id": "f", "submitted_at": "2026-11-29T08:00:00Z"});
        let violations = contract.violations(&lead);
        assert!(
            violations.iter().any(|v| v.contains("email")),
            "{violations:?}"
        );
        // The first of them, as a plan reports it; none for a lead that conforms.
        assert_eq!(contract.first_violation(&lead), violations.first().cloned());
        let conforming = serde_json::json!({
            "form_id": "f", "submitted_at": "2026-11-29T08:00:00Z", "email": "a@example.com"
        });
        assert_eq!(contract.violations(&conforming), Vec::<String>::new());
        assert_eq!(contract.first_violation(&conforming), None);
    }
}
