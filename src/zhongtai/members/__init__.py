"""Member center (会员中心, OneID): one member across every channel."""
