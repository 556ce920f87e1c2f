// Starting points: for every language a hello world, a program that reads
// input, and a multi-file example. Each is a complete project.

import { makeProject, type Project } from './store/project';

export type TemplateKind = 'hello' | 'input' | 'multi';

export interface Template {
  files: Record<string, string>;
  entry: string | null;
}

export const TEMPLATE_KINDS: { kind: TemplateKind; name: string }[] = [
  { kind: 'hello', name: 'Hello world' },
  { kind: 'input', name: 'Reading input' },
  { kind: 'multi', name: 'Several files' },
];

type Templates = Record<TemplateKind, Template>;

const one = (path: string, source: string): Template => ({ files: { [path]: source }, entry: path });

export const TEMPLATES: Record<string, Templates> = {
  python: {
    hello: one('main.py', 'print("Hello, World!")\n'),
    input: one('main.py', 'name = input("What is your name? ")\nprint(f"Hello, {name}!")\n'),
    multi: {
      files: {
        'main.py': 'from geometry.shapes import area_of_circle\n\nprint(f"Area: {area_of_circle(2.0):.2f}")\n',
        'geometry/__init__.py': '',
        'geometry/shapes.py': 'import math\n\n\ndef area_of_circle(radius):\n    return math.pi * radius * radius\n',
      },
      entry: 'main.py',
    },
  },
  javascript: {
    hello: one('main.js', 'console.log("Hello, World!");\n'),
    input: one(
      'main.js',
      'const readline = require("node:readline");\nconst rl = readline.createInterface({ input: process.stdin, output: process.stdout });\nrl.question("What is your name? ", (name) => {\n  console.log(`Hello, ${name}!`);\n  rl.close();\n});\n',
    ),
    multi: {
      files: {
        'main.js': 'const { greet } = require("./lib/greet");\n\nconsole.log(greet("World"));\n',
        'lib/greet.js': 'exports.greet = (name) => `Hello, ${name}!`;\n',
      },
      entry: 'main.js',
    },
  },
  typescript: {
    hello: one('index.ts', 'const greeting: string = "Hello, World!";\nconsole.log(greeting);\n'),
    input: one(
      'index.ts',
      'import * as readline from "readline";\n\nconst rl = readline.createInterface({ input: process.stdin, output: process.stdout });\nrl.question("What is your name? ", (name: string) => {\n  console.log(`Hello, ${name}!`);\n  rl.close();\n});\n',
    ),
    multi: {
      files: {
        'index.ts': 'import { add } from "./math/add";\n\nconsole.log(`2 + 3 = ${add(2, 3)}`);\n',
        'math/add.ts': 'export function add(a: number, b: number): number {\n  return a + b;\n}\n',
      },
      entry: 'index.ts',
    },
  },
  java: {
    hello: one(
      'Main.java',
      'public class Main {\n    public static void main(String[] args) {\n        System.out.println("Hello, World!");\n    }\n}\n',
    ),
    input: one(
      'Main.java',
      'import java.util.Scanner;\n\npublic class Main {\n    public static void main(String[] args) {\n        Scanner in = new Scanner(System.in);\n        System.out.print("What is your name? ");\n        System.out.flush();\n        String name = in.nextLine();\n        System.out.println("Hello, " + name + "!");\n    }\n}\n',
    ),
    multi: {
      files: {
        'com/example/app/Main.java':
          'package com.example.app;\n\nimport com.example.util.Greeter;\n\npublic class Main {\n    public static void main(String[] args) {\n        System.out.println(new Greeter("World").greeting());\n    }\n}\n',
        'com/example/util/Greeter.java':
          'package com.example.util;\n\npublic class Greeter {\n    private final String name;\n\n    public Greeter(String name) {\n        this.name = name;\n    }\n\n    public String greeting() {\n        return "Hello, " + name + "!";\n    }\n}\n',
      },
      entry: 'com/example/app/Main.java',
    },
  },
  c: {
    hello: one('main.c', '#include <stdio.h>\n\nint main(void) {\n    printf("Hello, World!\\n");\n    return 0;\n}\n'),
    input: one(
      'main.c',
      '#include <stdio.h>\n\nint main(void) {\n    char name[100];\n    printf("What is your name? ");\n    if (!fgets(name, sizeof name, stdin)) return 1;\n    for (char *p = name; *p; p++) if (*p == \'\\n\') *p = 0;\n    printf("Hello, %s!\\n", name);\n    return 0;\n}\n',
    ),
    multi: {
      files: {
        'main.c': '#include <stdio.h>\n#include "util/square.h"\n\nint main(void) {\n    printf("7 squared is %d\\n", square(7));\n    return 0;\n}\n',
        'util/square.h': '#ifndef SQUARE_H\n#define SQUARE_H\nint square(int x);\n#endif\n',
        'util/square.c': '#include "square.h"\n\nint square(int x) { return x * x; }\n',
      },
      entry: 'main.c',
    },
  },
  cpp: {
    hello: one(
      'main.cpp',
      '#include <iostream>\n\nint main() {\n    std::cout << "Hello, World!" << std::endl;\n    return 0;\n}\n',
    ),
    input: one(
      'main.cpp',
      '#include <iostream>\n#include <string>\n\nint main() {\n    std::string name;\n    std::cout << "What is your name? " << std::flush;\n    std::getline(std::cin, name);\n    std::cout << "Hello, " << name << "!" << std::endl;\n    return 0;\n}\n',
    ),
    multi: {
      files: {
        'main.cpp':
          '#include <iostream>\n#include "geometry/point.hpp"\n\nint main() {\n    Point p{3, 4};\n    std::cout << "Distance: " << p.distance() << std::endl;\n    return 0;\n}\n',
        'geometry/point.hpp':
          '#pragma once\n\nstruct Point {\n    double x, y;\n    double distance() const;\n};\n',
        'geometry/point.cpp': '#include "point.hpp"\n#include <cmath>\n\ndouble Point::distance() const { return std::sqrt(x * x + y * y); }\n',
      },
      entry: 'main.cpp',
    },
  },
  go: {
    hello: one('main.go', 'package main\n\nimport "fmt"\n\nfunc main() {\n\tfmt.Println("Hello, World!")\n}\n'),
    input: one(
      'main.go',
      'package main\n\nimport (\n\t"bufio"\n\t"fmt"\n\t"os"\n\t"strings"\n)\n\nfunc main() {\n\tfmt.Print("What is your name? ")\n\tname, _ := bufio.NewReader(os.Stdin).ReadString(\'\\n\')\n\tfmt.Printf("Hello, %s!\\n", strings.TrimSpace(name))\n}\n',
    ),
    multi: {
      files: {
        'main.go': 'package main\n\nimport "fmt"\n\nfunc main() {\n\tfmt.Println(greet("World"))\n}\n',
        'greet.go': 'package main\n\nfunc greet(name string) string {\n\treturn "Hello, " + name + "!"\n}\n',
      },
      entry: 'main.go',
    },
  },
  rust: {
    hello: one('main.rs', 'fn main() {\n    println!("Hello, World!");\n}\n'),
    input: one(
      'main.rs',
      'use std::io::{self, Write};\n\nfn main() {\n    print!("What is your name? ");\n    io::stdout().flush().unwrap();\n    let mut name = String::new();\n    io::stdin().read_line(&mut name).unwrap();\n    println!("Hello, {}!", name.trim());\n}\n',
    ),
    multi: {
      files: {
        'main.rs': 'mod greet;\n\nfn main() {\n    println!("{}", greet::greet("World"));\n}\n',
        'greet.rs': 'pub fn greet(name: &str) -> String {\n    format!("Hello, {name}!")\n}\n',
      },
      entry: 'main.rs',
    },
  },
  ruby: {
    hello: one('main.rb', 'puts "Hello, World!"\n'),
    input: one('main.rb', 'print "What is your name? "\nname = gets.to_s.chomp\nputs "Hello, #{name}!"\n'),
    multi: {
      files: {
        'main.rb': 'require_relative "lib/greeter"\n\nputs Greeter.new("World").greeting\n',
        'lib/greeter.rb':
          'class Greeter\n  def initialize(name)\n    @name = name\n  end\n\n  def greeting\n    "Hello, #{@name}!"\n  end\nend\n',
      },
      entry: 'main.rb',
    },
  },
  bash: {
    hello: one('main.sh', 'echo "Hello, World!"\n'),
    input: one('main.sh', 'read -r -p "What is your name? " name\necho "Hello, $name!"\n'),
    multi: {
      files: {
        'main.sh': 'source "$(dirname "$0")/lib/greet.sh"\ngreet World\n',
        'lib/greet.sh': 'greet() {\n  echo "Hello, $1!"\n}\n',
      },
      entry: 'main.sh',
    },
  },
  sqlite: {
    hello: one('main.sql', "SELECT 'Hello, World!';\n"),
    input: one(
      'main.sql',
      "-- SQL reads no input; the database lives on between runs of this session.\nCREATE TABLE IF NOT EXISTS visits(at TEXT);\nINSERT INTO visits VALUES (datetime('now'));\nSELECT count(*) || ' visit(s) so far' FROM visits;\n",
    ),
    multi: {
      files: {
        'main.sql':
          "CREATE TABLE IF NOT EXISTS people(name TEXT);\nDELETE FROM people;\nINSERT INTO people VALUES ('Ada'), ('Grace');\nSELECT 'Hello, ' || name || '!' FROM people;\n",
        'notes/README.md': 'The entry file main.sql runs; other files are kept alongside it.\n',
      },
      entry: 'main.sql',
    },
  },
  mysql: {
    hello: one('main.sql', "SELECT 'Hello, World!' AS greeting;\n"),
    input: one(
      'main.sql',
      "-- SQL reads no input; the database lives on between runs of this session.\nCREATE TABLE IF NOT EXISTS visits(at DATETIME);\nINSERT INTO visits VALUES (NOW());\nSELECT CONCAT(COUNT(*), ' visit(s) so far') AS visits FROM visits;\n",
    ),
    multi: {
      files: {
        'main.sql':
          "CREATE TABLE IF NOT EXISTS people(name VARCHAR(40));\nDELETE FROM people;\nINSERT INTO people VALUES ('Ada'), ('Grace');\nSELECT CONCAT('Hello, ', name, '!') AS greeting FROM people;\n",
        'notes/README.md': 'The entry file main.sql runs on MariaDB; other files are kept alongside it.\n',
      },
      entry: 'main.sql',
    },
  },
  postgresql: {
    hello: one('main.sql', "SELECT 'Hello, World!' AS greeting;\n"),
    input: one(
      'main.sql',
      "-- SQL reads no input; the database lives on between runs of this session.\nCREATE TABLE IF NOT EXISTS visits(at TIMESTAMP);\nINSERT INTO visits VALUES (now());\nSELECT count(*) || ' visit(s) so far' AS visits FROM visits;\n",
    ),
    multi: {
      files: {
        'main.sql':
          "CREATE TABLE IF NOT EXISTS people(name TEXT);\nDELETE FROM people;\nINSERT INTO people VALUES ('Ada'), ('Grace');\nSELECT 'Hello, ' || name || '!' AS greeting FROM people;\n",
        'notes/README.md': 'The entry file main.sql runs on PostgreSQL; other files are kept alongside it.\n',
      },
      entry: 'main.sql',
    },
  },
};

export function template(language: string, kind: TemplateKind): Template {
  return (TEMPLATES[language] ?? TEMPLATES.python)[kind];
}

/**
 * A new project made from a template, with the template's entry marked
 * (so Run runs it whichever file is open).
 */
export function templateProject(name: string, language: string, kind: TemplateKind): Project {
  const t = template(language, kind);
  return makeProject(name, t.files, t.entry);
}
