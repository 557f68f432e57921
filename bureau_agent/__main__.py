from bureau_agent.cli import main

raise SystemExit(main())
