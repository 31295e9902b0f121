// Type declaration for asl-validator 4 (the package ships none). Only what this project uses.
declare module 'asl-validator' {
  /** One validation problem. */
  interface AslValidationError {
    'Error code': string;
    Message: string;
  }
  /** Validates an Amazon States Language definition. It mutates its input: pass a copy. */
  export default function aslValidator(definition: unknown): {
    isValid: boolean;
    errors: AslValidationError[];
  };
}
