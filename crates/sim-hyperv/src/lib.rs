//! A simulated Hyper-V host reachable over WinRM.
