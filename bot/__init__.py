"""tipbot core: conversations, pipeline and routing; knows no platform and no SQL."""
