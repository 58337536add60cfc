//! Input checks shared by the HTTP API and the command line.

/// Validates an e-mail address loosely (one `@`, something on each side, no spaces).
pub fn check_email(email: &str) -> Result<(), crate::Error> {
    let email = email.trim();
    let valid = email.len() <= 254
        && !email.contains(char::is_whitespace)
        && email
            .split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.contains('@'));
    if valid {
        Ok(())
    } else {
        Err(crate::Error::invalid("email", "is not an e-mail address"))
    }
}
