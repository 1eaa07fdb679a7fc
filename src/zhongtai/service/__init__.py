"""Intelligent customer service (智能客服): understanding Chinese and English questions, the
knowledge base, dialogue, hand-off to agents."""
